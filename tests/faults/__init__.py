"""Fault injection: Worldgate behind a TCP proxy that delays, stalls, resets and cuts."""
