-- ../all_resources.sql's rows, read from the activity summaries (see all_calls.sql), whose
-- `resources` are the distinct ARNs the successful calls of a day named. One aggregation keeps the
-- first $max_resources ARNs in order and counts them all, instead of ranking every row.
-- Parameters (bound by name): $first_day, $last_day (with their months $first_month, $last_month): the window ('YYYY-MM-DD', UTC); $principal_arn:
-- one principal's ARN, or '' for all; $max_resources: how many ARNs to keep per principal and kind.
-- Accounts: as in ../all_calls.sql, ctidx filters the result's `account` column.
SELECT account, principal_arn, eventsource, eventname,
       unnest(array_slice(arns, 1, CAST($max_resources AS BIGINT))) AS resource_arn,
       resources_seen
FROM (
    SELECT account, principal_arn, eventsource, eventname,
           array_sort(array_agg(DISTINCT resource_arn)) AS arns,
           count(DISTINCT resource_arn) AS resources_seen
    FROM (
        SELECT account, principal_arn, eventsource, eventname, unnest(resources) AS resource_arn
        FROM activity
        WHERE day BETWEEN $first_day AND $last_day
          AND month BETWEEN $first_month AND $last_month
          AND cardinality(resources) > 0
          AND ($principal_arn = '' OR principal_arn = $principal_arn)
    )
    WHERE resource_arn IS NOT NULL
    GROUP BY 1, 2, 3, 4
)
