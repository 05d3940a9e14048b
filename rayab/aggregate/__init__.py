"""rayab.aggregate: the pure core of the hourly job (numpy and pyarrow, no Ray).

Validate an hour's events (:mod:`~rayab.aggregate.validate`), join assignments (:mod:`~rayab.aggregate.join`),
collapse them to (cell, unit) rows (:mod:`~rayab.aggregate.codes`, :mod:`~rayab.aggregate.grouping`,
:mod:`~rayab.aggregate.unit_rows`), turn those into addable
:class:`~rayab.aggregate.cell_sums.CellSums` of raw and replicate sums (:mod:`~rayab.aggregate.shards`; the same
type sums query windows), and describe what a run read and produced
(:mod:`~rayab.aggregate.summary`, :mod:`~rayab.aggregate.manifest`). Everything here runs, and is tested, without a
Ray cluster; :mod:`rayab.hourly` distributes it.
"""
