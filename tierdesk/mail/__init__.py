"""The email channel: inbound (store, parse, route, act) and outbound (notices to customers).

Inbound is an entry point like the portal: `imap.poll` and `tierdesk mail ingest`
store the raw bytes first (`inbound.receive`), then `inbound.process` parses
(`parse`), strips quoted history (`quotes`), decides (`route`) and calls the
ticket actions. Outbound (`outbound`) subscribes to the actions' events and
queues mail through the notifications outbox.
"""
