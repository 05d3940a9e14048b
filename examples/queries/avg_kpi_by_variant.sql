-- Average KPI value per unit-day, by experiment, variant and KPI (kpi_outcome joined with assignment).
SELECT
    a.exp_id,
    a.variant_id,
    k.kpi_name,
    AVG(k.kpi_value) AS avg_kpi_value,
    COUNT(DISTINCT k.unit_id) AS units
FROM kpi_outcome AS k
JOIN assignment AS a
    ON a.exp_id = k.exp_id AND a.unit_id = k.unit_id
GROUP BY a.exp_id, a.variant_id, k.kpi_name
ORDER BY a.exp_id, a.variant_id, k.kpi_name;
