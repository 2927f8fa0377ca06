"""The live room: how a change reaches every screen, and a screen that
missed it catches up.

Read in order: `protocol` (what pages and server say to each other, named
once), `publish` (after commit, render once per language, send),
`messages` (what a push, a snapshot, the presence count render to),
`relay` (this process's one subscription per group, fanning pushes out to
its sockets; presence coalescing; the channel layer's health), `consumers`
(the sockets: authorise, join, resync, forward), `presence` (who is
connected, across processes), `security` (the Origin check, socket log
lines). Only this package talks to the channel layer.
"""
