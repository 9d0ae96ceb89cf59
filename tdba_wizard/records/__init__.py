"""The v3 learner record as TDBA judges it: one implementation for the nightly job, the
sandbox and every check.

- :mod:`~tdba_wizard.records.rules`: each field's rule, after TDBA's zod schema;
- :mod:`~tdba_wizard.records.dossier`: the schema's order, :func:`judge` (the route's
  validation) and the route's echo;
- :mod:`~tdba_wizard.records.rows`: what ``sync`` sends for an export row, and the
  column-wise :class:`RowValidator` for CSV blocks;
- :mod:`~tdba_wizard.records.compiled`: the values TDBA certainly accepts, recognised in
  compiled code;
- :mod:`~tdba_wizard.records.js`, :mod:`~tdba_wizard.records.jsdate`,
  :mod:`~tdba_wizard.records.phone`: the JavaScript, V8 and libphonenumber-js semantics the
  rules stand on.
"""
