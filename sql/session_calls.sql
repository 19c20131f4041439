-- Which API calls did one principal make in one destination role, through its role sessions? A
-- call belongs to the principal when it was made in one of the sessions of person_sessions.sql (with
-- the access key an assumption returned, or under the session ARN and creation time of a role
-- switch). Reads `person_sessions`, the result of person_sessions.sql.
-- Parameters (bound by name): $role_arn, $role_account: the destination role's ARN and account;
-- $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC).
SELECT e.eventsource, e.eventname, e.eventtype,
       count(*) AS calls, min(e.eventtime) AS first_call, max(e.eventtime) AS last_call
FROM cloudtrail e
WHERE e.account = $role_account
  AND e.day BETWEEN $first_day AND $last_day
  AND e.month BETWEEN $first_month AND $last_month
  AND e.errorcode IS NULL
  AND e.useridentity.sessioncontext.sessionissuer.arn = $role_arn
  AND (
      e.useridentity.accesskeyid IN (SELECT session_key FROM person_sessions)
      OR e.useridentity.arn || ' ' || e.useridentity.sessioncontext.attributes.creationdate
         IN (SELECT switch_arn || ' ' || session_created FROM person_sessions)
      OR e.useridentity.arn IN (SELECT switch_arn FROM person_sessions WHERE session_created IS NULL)
  )
GROUP BY e.eventsource, e.eventname, e.eventtype
