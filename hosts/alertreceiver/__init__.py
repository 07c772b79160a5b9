"""The alert receiver's program (run by hosts/alert_receiver.py on every monitor host):
records.py is the record format and its pure reader, recorder.py the webhook server."""
