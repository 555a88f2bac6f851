-- One alert, newest version.
-- Parameters: alert_id String
SELECT * FROM cpp_alerts FINAL WHERE alert_id = {alert_id:String}
