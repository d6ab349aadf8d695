"""Canary and shadow rollouts of pushed versions, and their automatic promotion or rollback (`kfx rollout`).

rules.py decides from plain numbers; evidence.py gathers them (server metrics, online quality, skew reports);
actions.py moves the routing file and the labels; record.py writes each decision to ML Metadata; alerts.py posts it
to a webhook.
"""
