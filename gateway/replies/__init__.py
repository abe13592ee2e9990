"""Replies to the applicant: local processing answers a case (decision, request for documents,
notice, status update); the reply is committed with its first delivery and the delivery's outbox
row; the outbox hands it to a reply channel (a port, filled by adapters); the channel's reports
come back as delivery states. See README.md in this folder."""
