from llmtrade.cli import main

main()
