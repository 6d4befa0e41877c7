"""Everything with I/O: the model, the tools over the system of record, payout and notice."""
