from llmtrade.entry import main

main()
