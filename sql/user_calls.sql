-- Which API calls did one IAM user make in a window of days, and how many were refused for lack of
-- permission? calls counts the successful ones; denied_calls those refused (the error codes below).
-- One row per distinct (eventsource, eventname, eventtype); the IAM layer maps them to IAM actions.
-- Parameters (bound by name): $account: the account id; $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC);
-- $principal_arn: the user's ARN.
SELECT eventsource, eventname, eventtype,
       count(*) FILTER (WHERE errorcode IS NULL) AS calls,
       count(*) FILTER (WHERE errorcode IN ('AccessDenied', 'AccessDeniedException',
                                            'Client.UnauthorizedOperation', 'UnauthorizedOperation',
                                            'UnauthorizedAccess', 'UnauthorizedException',
                                            'AuthorizationError', 'AuthorizationErrorException')) AS denied_calls,
       min(eventtime) FILTER (WHERE errorcode IS NULL) AS first_call,
       max(eventtime) FILTER (WHERE errorcode IS NULL) AS last_call
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND useridentity.type = 'IAMUser'
  AND useridentity.arn = $principal_arn
GROUP BY eventsource, eventname, eventtype
