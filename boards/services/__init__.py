"""The one write path: every change to a board goes through a function of
these modules, imported by their own names (`from boards.services import
participation`): `participation` (join, post, « moi aussi », offer help),
`facilitation` (ateliers, phases, moderation, the team), `plan` (the local
action plan and its links), `privacy` (a participant's data).

Each action validates its domain rules, writes inside one transaction that
also bumps the atelier's version (`core.begin_write`), and schedules its
broadcast for after the commit (`boards.live.publish.on_commit`). HTTP views
and WebSocket consumers call these; nothing else writes. Refusals are
`core.Refused` (a rule of the atelier) and `core.NotFound` (an id that is not
the atelier's).
"""
