"""Support for the broker contract suite: one venue (a broker and the market it trades in) per broker."""
