-- Distinct units with an outcome, per experiment.
SELECT
    exp_id,
    COUNT(DISTINCT unit_id) AS units
FROM kpi_outcome
GROUP BY exp_id
ORDER BY exp_id;
