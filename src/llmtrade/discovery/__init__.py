"""Symbol discovery (issue 15): candidates, pickers, the ensemble and the watchlist.

candidates.py (the packaged list, live Alpaca assets), features.py (what pickers see, from bars),
pickers.py (metric, fuzzy and the random and momentum controls; pure), ensemble.py (the weighted
merge and the watchlist; pure), run.py (one discovery run: features, every picker, events).
"""
