-- Which API calls did one IAM user make successfully in a window of days?
-- One row per distinct (eventsource, eventname, eventtype); the IAM layer maps them to IAM actions.
-- Parameters (bound by name): $account: the account id; $first_day, $last_day: the window ('YYYY-MM-DD', UTC);
-- $principal_arn: the user's ARN.
SELECT eventsource, eventname, eventtype,
       count(*) AS calls, min(eventtime) AS first_call, max(eventtime) AS last_call
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND errorcode IS NULL
  AND useridentity.type = 'IAMUser'
  AND useridentity.arn = $principal_arn
GROUP BY eventsource, eventname, eventtype
