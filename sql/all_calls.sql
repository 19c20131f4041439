-- What every IAM user, and every role through its sessions, did in a window of days: one scan for
-- all of them. One row per account, principal and kind of call (eventsource, eventname, eventtype),
-- as user_calls.sql and role_calls.sql give them for one principal: calls counts the successful ones,
-- denied_calls those refused for lack of permission (the error codes below), first_call and last_call
-- are the first and last successful ones. The IAM layer maps kinds of call to IAM actions.
-- principal_arn is the user's ARN (useridentity.arn) or the ARN of the role that issued the session
-- (useridentity.sessioncontext.sessionissuer.arn).
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- Accounts: ctidx filters the result's `account` column, and the filter reaches the scan, so only the
-- selected accounts' partitions are read. On another engine, add `AND account IN (...)` below.
SELECT account,
       useridentity.type AS principal_type,
       CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
            ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
       eventsource, eventname, eventtype,
       count(*) FILTER (WHERE errorcode IS NULL) AS calls,
       count(*) FILTER (WHERE errorcode IN ('AccessDenied', 'AccessDeniedException',
                                            'Client.UnauthorizedOperation', 'UnauthorizedOperation',
                                            'UnauthorizedAccess', 'UnauthorizedException',
                                            'AuthorizationError', 'AuthorizationErrorException')) AS denied_calls,
       min(eventtime) FILTER (WHERE errorcode IS NULL) AS first_call,
       max(eventtime) FILTER (WHERE errorcode IS NULL) AS last_call
FROM cloudtrail
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND useridentity.type IN ('IAMUser', 'AssumedRole')
GROUP BY 1, 2, 3, 4, 5, 6
