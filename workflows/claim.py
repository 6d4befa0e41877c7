"""The claim as submitted: the one input every review starts from.

Validation lives here so that the starter, the CLI and the workflow refuse the same
things for the same reasons, before anything reaches Temporal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from workflows.people import FreeText, JsonNumber, PersonName, PlainText

# Money is exact in memory and a plain JSON number on the wire, as the brief's
# state example shows it (`"claim_amount": 1250`).
_AS_JSON_NUMBER = PlainSerializer(float, return_type=float, when_used="json")
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2), _AS_JSON_NUMBER]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2), _AS_JSON_NUMBER]
# Money from outside (a claim, a person's edit): a JSON number only, never text.
StrictPositiveMoney = Annotated[PositiveMoney, JsonNumber]

# Bounds on what one claim may carry, so no claim can grow its history or state unbounded.
MAX_DOCUMENTS = 50
MAX_DESCRIPTION_CHARS = 10_000

# ISO 4217 codes in active use. A claim in any other currency is refused at the door
# rather than converted with a guessed rate.
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST
    XAF XCD XOF XPF YER ZAR ZMW ZWL
"""
ISO_4217_CURRENCIES = frozenset(_ISO_4217_CODES.split())


class ClaimCategory(StrEnum):
    PROPERTY = "property"
    AUTO = "auto"
    TRAVEL = "travel"
    HEALTH = "health"
    LIABILITY = "liability"
    EXPENSE = "expense"


class Claimant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: PlainText = Field(min_length=1, max_length=64)
    name: PlainText = Field(min_length=1, max_length=200)
    email: str = Field(
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$", max_length=254
    )


class SupportingDocument(BaseModel):
    """A reference to a document held elsewhere; the document itself never enters history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: PlainText = Field(min_length=1, max_length=64)
    kind: PlainText = Field(min_length=1, max_length=64)
    uri: PlainText = Field(min_length=1, max_length=2048)


class Claim(BaseModel):
    """A claim for review, exactly as the external contract describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    policy_number: PlainText = Field(min_length=1, max_length=64)
    claimant: Claimant
    amount: StrictPositiveMoney
    currency: str
    incident_date: date
    category: ClaimCategory
    description: FreeText = Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)
    documents: list[SupportingDocument] = Field(default_factory=list, max_length=MAX_DOCUMENTS)
    # Who entered the claim; compared with approvers by identity (see workflows.people).
    submitted_by: PersonName = Field(min_length=1, max_length=64)

    @field_validator("currency", mode="before")
    @classmethod
    def _known_currency(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("must be an ISO 4217 currency code as text, for example USD")
        code = value.strip().upper()
        if code not in ISO_4217_CURRENCIES:
            raise ValueError(f"'{value}' is not an ISO 4217 currency code (for example USD, EUR)")
        return code

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.claim_id)


def money(amount: Decimal) -> str:
    """An amount as people read it in messages: 1,250.00."""
    return f"{amount:,.2f}"


def workflow_id_for(claim_id: str) -> str:
    """The one workflow id a claim can have, so a second review of it is refused by Temporal."""
    return f"claim-{claim_id}"
