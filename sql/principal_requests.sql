-- The distinct successful requests of one principal in a window of days: a user's own, or those of
-- the sessions of a role. One row per kind of call, account, region and request parameters, with how
-- many calls made it, the first and last of them and the smallest of their eventIDs. `ctidx policy`
-- reads from the parameters which resources each call named, and which roles it handed to a service.
-- Parameters (bound by name): $account; $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC);
-- $principal_arn: the user's ARN, or the ARN of the role that issued the sessions.
SELECT eventsource, eventname, eventtype, recipientaccountid, awsregion, requestparameters,
       count(*) AS calls,
       min(eventtime) AS first_call,
       max(eventtime) AS last_call,
       min(eventid) AS sample_event
FROM cloudtrail
WHERE account = $account
  AND day BETWEEN $first_day AND $last_day
  AND month BETWEEN $first_month AND $last_month
  AND errorcode IS NULL
  AND useridentity.type IN ('IAMUser', 'AssumedRole')
  AND CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
           ELSE useridentity.sessioncontext.sessionissuer.arn END = $principal_arn
GROUP BY eventsource, eventname, eventtype, recipientaccountid, awsregion, requestparameters
