"""The three procedures as workflows: their steps in order, their categories and the outcome
codes that statistics count (REQUIREMENTS §1, §6). Pure data and rules; no database.

Steps are a checklist in the procedure's order: a counsellor marks what was done (a case
may skip steps). Steps that go outside the counselling relationship (talking to the
manager, a complaint, forwarding to an authority) need the reporter's consent or a justified
override (`casework.consent`), checked whenever one is marked (`CONSENT_STEPS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants.choices import Procedure


@dataclass(frozen=True)
class Workflow:
    steps: tuple[str, ...]
    categories: tuple[str, ...]
    outcomes: tuple[str, ...]


WORKFLOWS: dict[Procedure, Workflow] = {
    Procedure.UNWANTED_BEHAVIOUR: Workflow(
        steps=(
            "intake_conversation",
            "options_mapped",
            "talk_to_manager",
            "talk_to_higher_manager",
            "talk_to_board",
            "share_summary",
            "referral",
            "formal_complaint",
            "closure",
            "aftercare",
        ),
        categories=(
            "bullying",
            "sexual_harassment",
            "intimidation",
            "discrimination",
            "aggression_violence",
            "other",
        ),
        outcomes=(
            "listening_only",
            "informal_solution",
            "referral",
            "formal_complaint",
            "external_report",
            "withdrawn",
        ),
    ),
    Procedure.INTEGRITY: Workflow(
        steps=(
            "acknowledged",
            "duty_to_speak_explained",
            "assessed",
            "share_summary",
            "referral",
            "forwarded_to_authority",
            "feedback_given",
            "closure",
        ),
        categories=(
            "fraud",
            "corruption",
            "theft",
            "conflict_of_interest",
            "information_misuse",
            "resource_misuse",
            "public_interest_wrongdoing",
            "other",
        ),
        outcomes=(
            "listening_only",
            "referral",
            "integrity_report",
            "external_report",
            "no_follow_up",
            "withdrawn",
        ),
    ),
    Procedure.REHABILITATION: Workflow(
        steps=("intake", "scope", "communication_plan", "actions", "check_in", "closure"),
        categories=("false_accusation_conduct", "false_accusation_integrity", "other"),
        outcomes=("rehabilitation_completed", "partly_completed", "withdrawn"),
    ),
}

# Outward steps: never marked without the reporter's recorded consent (REQUIREMENTS §4).
# The escalation ladder (manager → higher manager → board → complaint → external) and the
# other outward steps: a referral, a summary shared with someone.
CONSENT_STEPS = frozenset(
    {
        "talk_to_manager",
        "talk_to_higher_manager",
        "talk_to_board",
        "share_summary",
        "referral",
        "formal_complaint",
        "forwarded_to_authority",
    }
)


def workflow(procedure: str) -> Workflow:
    return WORKFLOWS[Procedure(procedure)]


def parse_steps(stored: str) -> list[str]:
    return [code for code in stored.split(",") if code]
