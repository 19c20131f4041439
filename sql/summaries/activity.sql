-- What an activity summary holds: for each day, principal and kind of call, the counts and times of
-- ../all_calls.sql, and the distinct resource ARNs (resources[].arn) the successful calls named, in
-- order. ctidx writes one summary beside each data file as it writes the file (under
-- `_ctidx/activity/`, in the same partition folders and with the same name) and reads them as the
-- table `activity` to answer for every principal at once (the other queries of this folder). This
-- query is their definition over the `cloudtrail` table: a test holds the summaries to it.
-- Principals as in ../all_calls.sql. The select-list unnest and array functions are DataFusion's.
WITH calls AS (
    SELECT account, month, day,
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
    WHERE useridentity.type IN ('IAMUser', 'AssumedRole')
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
),
named AS (
    SELECT account, month, day, principal_type, principal_arn, eventsource, eventname, eventtype,
           array_sort(array_agg(DISTINCT resource.arn)) AS resources
    FROM (
        SELECT account, month, day, useridentity.type AS principal_type,
               CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.arn
                    ELSE useridentity.sessioncontext.sessionissuer.arn END AS principal_arn,
               eventsource, eventname, eventtype, unnest(resources) AS resource
        FROM cloudtrail
        WHERE useridentity.type IN ('IAMUser', 'AssumedRole')
          AND errorcode IS NULL
          AND resources IS NOT NULL
    )
    WHERE resource.arn IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
SELECT c.account, c.month, c.day, c.principal_type, c.principal_arn, c.eventsource, c.eventname,
       c.eventtype, c.calls, c.denied_calls, c.first_call, c.last_call,
       coalesce(n.resources, make_array()) AS resources
FROM calls c
LEFT JOIN named n
  ON c.account = n.account AND c.month = n.month AND c.day = n.day
 AND (c.principal_type IS NOT DISTINCT FROM n.principal_type)
 AND (c.principal_arn IS NOT DISTINCT FROM n.principal_arn)
 AND (c.eventsource IS NOT DISTINCT FROM n.eventsource)
 AND (c.eventname IS NOT DISTINCT FROM n.eventname)
 AND (c.eventtype IS NOT DISTINCT FROM n.eventtype)
