-- Which API calls were made successfully in sessions of one IAM role in a window of days?
-- The role is the session's issuer (useridentity.sessioncontext.sessionissuer.arn).
-- Parameters (positional, bound): account id, first day, last day ('YYYY-MM-DD', UTC), role ARN.
SELECT eventsource, eventname, eventtype, count(*) AS calls, max(eventtime) AS last_call
FROM cloudtrail
WHERE account = ?
  AND day BETWEEN ? AND ?
  AND errorcode IS NULL
  AND useridentity.type = 'AssumedRole'
  AND useridentity.sessioncontext.sessionissuer.arn = ?
GROUP BY eventsource, eventname, eventtype
