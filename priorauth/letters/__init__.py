"""Letters: a request's prior-authorization and appeal letters, from composing the text out of the
case, the determination and the payer's policy, through the physician's edits and signature and the
PDF renders, to the fax-ready packet that goes to the payer.

One way only: this package imports the rest of priorauth (requests, their workflow, permissions),
policies and coverage; nothing there imports it (tests/test_architecture.py). Its models keep the
`priorauth` app label (registered by the import at the end of priorauth/models.py).
"""
