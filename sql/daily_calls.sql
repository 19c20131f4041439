-- How many calls every IAM user, and every role through its sessions, made on each day of a window:
-- calls counts the successful ones, denied_calls those refused for lack of permission (the error
-- codes of all_calls.sql). Principals as in all_calls.sql.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- Accounts: as in all_calls.sql, ctidx filters the result's `account` column.
SELECT account,
       CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
            ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
       day,
       count(*) FILTER (WHERE errorcode IS NULL) AS calls,
       count(*) FILTER (WHERE errorcode IN ('AccessDenied', 'AccessDeniedException',
                                            'Client.UnauthorizedOperation', 'UnauthorizedOperation',
                                            'UnauthorizedAccess', 'UnauthorizedException',
                                            'AuthorizationError', 'AuthorizationErrorException')) AS denied_calls
FROM cloudtrail
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND useridentity.type IN ('IAMUser', 'AssumedRole')
GROUP BY 1, 2, 3
