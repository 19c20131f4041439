-- Which IAM roles of an account had at least one successful call made in one of their sessions in a
-- window of days? The role is the session's issuer, in the same account.
-- Parameters (bound by name): $account: the account id; $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
SELECT DISTINCT useridentity.sessioncontext.sessionissuer.arn AS arn
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND errorcode IS NULL
  AND useridentity.type = 'AssumedRole'
  AND useridentity.sessioncontext.sessionissuer.type = 'Role'
  AND useridentity.sessioncontext.sessionissuer.accountid = account
