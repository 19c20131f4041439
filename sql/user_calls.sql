-- Which API calls did one IAM user make successfully in a window of days?
-- One row per distinct (eventsource, eventname, eventtype); the IAM layer maps them to IAM actions.
-- Parameters (positional, bound): account id, first day, last day ('YYYY-MM-DD', UTC), user ARN.
SELECT eventsource, eventname, eventtype, count(*) AS calls, max(eventtime) AS last_call
FROM cloudtrail
WHERE account = ?
  AND day BETWEEN ? AND ?
  AND errorcode IS NULL
  AND useridentity.type = 'IAMUser'
  AND useridentity.arn = ?
GROUP BY eventsource, eventname, eventtype
