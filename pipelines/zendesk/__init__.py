"""Zendesk Support: tickets, SLAs, agents and CSAT (extraction in `source`, registry entry in `provider`).

Light on purpose: importing this package imports neither dlt nor any HTTP client.
"""
