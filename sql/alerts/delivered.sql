-- Was this notification already delivered to this target?
-- Parameters: dedupe_key String, target String
SELECT count() AS n FROM cpp_alert_deliveries WHERE dedupe_key = {dedupe_key:String} AND target = {target:String}
