-- Which API calls were made successfully in sessions of one IAM role in a window of days?
-- The role is the session's issuer (useridentity.sessioncontext.sessionissuer.arn).
-- Parameters (bound by name): $account: the account id; $first_day, $last_day: the window ('YYYY-MM-DD', UTC);
-- $principal_arn: the role's ARN.
SELECT eventsource, eventname, eventtype,
       count(*) AS calls, min(eventtime) AS first_call, max(eventtime) AS last_call
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND errorcode IS NULL
  AND useridentity.type = 'AssumedRole'
  AND useridentity.sessioncontext.sessionissuer.arn = $principal_arn
GROUP BY eventsource, eventname, eventtype
