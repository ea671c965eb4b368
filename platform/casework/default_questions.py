"""The built-in intake questions: used for a procedure as long as the organisation has none of
its own for it.

Labels are gettext message ids (English source, plain language at level B1, a calm tone): they
are translated when the form is shown, so a built-in question always speaks the reporter's
language. `N_` only marks them for extraction (`make messages`). Names are stable: the form
field of a built-in question is derived from it (`default:<name>`).
"""

from __future__ import annotations

from dataclasses import dataclass

from casework.choices import QuestionKind
from tenants.choices import Procedure

YES, NO = "yes", "no"
OTHER = "other"


def N_(message: str) -> str:
    return message


@dataclass(frozen=True)
class DefaultQuestion:
    name: str
    kind: QuestionKind
    label: str
    help: str = ""
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (value, label msgid)
    follows: tuple[str, str] | None = None  # (parent name, parent value)
    required_error: str = ""  # the GOV.UK-style "Enter …" message when left empty


def yes_no_labels() -> tuple[tuple[str, str], ...]:
    return ((YES, N_("Yes")), (NO, N_("No")))


_UNWANTED_BEHAVIOUR = (
    DefaultQuestion(
        "what_happened",
        QuestionKind.LONG_TEXT,
        N_("What happened?"),
        N_("Tell it in your own words. You do not have to give names."),
        required=True,
        required_error=N_("Enter what happened"),
    ),
    DefaultQuestion(
        "behaviour",
        QuestionKind.CHOICE,
        N_("What kind of behaviour was it?"),
        N_("Choose what fits best. If you are not sure, choose something else."),
        choices=(
            ("bullying", N_("Bullying")),
            ("sexual_harassment", N_("Sexual harassment")),
            ("intimidation", N_("Intimidation")),
            ("discrimination", N_("Discrimination")),
            ("aggression", N_("Aggression or violence")),
            (OTHER, N_("Something else")),
        ),
    ),
    DefaultQuestion(
        "behaviour_other",
        QuestionKind.TEXT,
        N_("Describe the behaviour"),
        follows=("behaviour", OTHER),
    ),
    DefaultQuestion(
        "when",
        QuestionKind.DATE,
        N_("When did it happen?"),
        N_("If it happened more than once, give the last time."),
    ),
    DefaultQuestion("ongoing", QuestionKind.YES_NO, N_("Is it still going on?")),
    DefaultQuestion("witnesses", QuestionKind.YES_NO, N_("Were there witnesses?")),
    DefaultQuestion(
        "witnesses_who",
        QuestionKind.LONG_TEXT,
        N_("Who could confirm what happened?"),
        N_("You may leave names out."),
        follows=("witnesses", YES),
    ),
    DefaultQuestion(
        "wish",
        QuestionKind.LONG_TEXT,
        N_("What would you like to happen?"),
        N_("For example: a conversation, advice, or that the behaviour stops."),
    ),
)

_INTEGRITY = (
    DefaultQuestion(
        "wrongdoing",
        QuestionKind.LONG_TEXT,
        N_("What is the suspected wrongdoing?"),
        N_("Describe what you saw or know. You do not have to give names."),
        required=True,
        required_error=N_("Enter what the suspected wrongdoing is"),
    ),
    DefaultQuestion(
        "kind",
        QuestionKind.CHOICE,
        N_("What kind of wrongdoing is it?"),
        N_("Choose what fits best. If you are not sure, choose something else."),
        choices=(
            ("fraud", N_("Fraud")),
            ("corruption", N_("Corruption")),
            ("theft", N_("Theft")),
            ("conflict_of_interest", N_("Conflict of interest")),
            ("information", N_("Leaking or misuse of information")),
            ("resources", N_("Misuse of company resources")),
            ("public_danger", N_("Danger to public health, safety or the environment")),
            (OTHER, N_("Something else")),
        ),
    ),
    DefaultQuestion(
        "when",
        QuestionKind.DATE,
        N_("When did it happen, or when did it start?"),
        N_("An estimate is fine."),
    ),
    DefaultQuestion("ongoing", QuestionKind.YES_NO, N_("Is it still going on?")),
    DefaultQuestion(
        "reported_elsewhere", QuestionKind.YES_NO, N_("Have you reported it elsewhere?")
    ),
    DefaultQuestion(
        "reported_where",
        QuestionKind.TEXT,
        N_("Where and when did you report it?"),
        follows=("reported_elsewhere", YES),
    ),
    DefaultQuestion(
        "evidence",
        QuestionKind.LONG_TEXT,
        N_("Is there evidence, and where is it?"),
        N_("For example documents, e-mails or messages, and where they are kept."),
    ),
)

_REHABILITATION = (
    DefaultQuestion(
        "accusation",
        QuestionKind.LONG_TEXT,
        N_("What were you accused of?"),
        N_("No names needed."),
        required=True,
        required_error=N_("Enter what you were accused of"),
    ),
    DefaultQuestion(
        "concluded",
        QuestionKind.DATE,
        N_("When did your employer conclude that the accusation was unfounded?"),
        N_("An estimate is fine."),
    ),
    DefaultQuestion(
        "reference",
        QuestionKind.TEXT,
        N_("Reference of the earlier case"),
        N_("Only if you have one."),
    ),
    DefaultQuestion(
        "support",
        QuestionKind.LONG_TEXT,
        N_("What would help you now?"),
        N_("For example: a conversation, a statement from your employer, or advice."),
    ),
)

DEFAULT_QUESTIONS: dict[Procedure, tuple[DefaultQuestion, ...]] = {
    Procedure.UNWANTED_BEHAVIOUR: _UNWANTED_BEHAVIOUR,
    Procedure.INTEGRITY: _INTEGRITY,
    Procedure.REHABILITATION: _REHABILITATION,
}
