-- Every distinct (eventsource, eventname, eventtype) in the store, with its number of records: the
-- input of `ctidx unmapped`, which reports the events the IAM mapping does not know.
-- Parameters: none.
SELECT eventsource, eventname, eventtype, count(*) AS records
FROM cloudtrail
GROUP BY eventsource, eventname, eventtype
