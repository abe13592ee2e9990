"""What happened to cases, for local processing and for the record: CloudEvents in the event
log and their webhook rows (published in the transaction of the change), and the audit log."""
