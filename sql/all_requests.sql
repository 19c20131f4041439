-- Every successful call of every IAM user, and of every role through its sessions, in a window of
-- days, with what principal_requests.sql groups by: one row per call. ctidx groups the rows of each
-- principal as they stream in, reading the parameters of each distinct request once, so that no
-- engine has to hold the distinct requests of a whole organization. Principals as in all_calls.sql.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
-- Accounts: as in all_calls.sql, ctidx filters the result's `account` column.
SELECT account,
       CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
            ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
       eventsource, eventname, eventtype, recipientaccountid, awsregion, requestparameters,
       eventtime, eventid
FROM cloudtrail
WHERE day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND errorcode IS NULL
  AND useridentity.type IN ('IAMUser', 'AssumedRole')
