"""What a model's tokens cost: a small table of list prices, overridable from a file.

Prices are US dollars per million tokens, as the provider lists them; they change, so a
team pins its own with `--pricing FILE` (TOML or JSON, same shape as `DEFAULT_PRICES`):

    [models."openai:gpt-4o-mini"]
    input_per_million = 0.15
    output_per_million = 0.60

The offline model costs nothing. A model the table does not know has no price, and the
report says its cost is unknown rather than print a zero that looks like a measurement.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.errors import UserFacingError
from runtime.text import printable

PRICE_CURRENCY = "USD"
MAX_PRICING_FILE_BYTES = 1_000_000
MAX_PRICED_MODELS = 500
_MILLION = Decimal(1_000_000)
_OFFLINE_MODELS = ("offline", "offline-adjuster-1")


class ModelPrice(BaseModel):
    """List price of one model, in dollars per million input and output tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_million: Decimal = Field(ge=0, le=100_000, allow_inf_nan=False)
    output_per_million: Decimal = Field(ge=0, le=100_000, allow_inf_nan=False)


def _price(input_per_million: str, output_per_million: str) -> ModelPrice:
    return ModelPrice(
        input_per_million=Decimal(input_per_million),
        output_per_million=Decimal(output_per_million),
    )


# OpenAI's published list prices for standard (not batch, not cached) tokens.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4o": _price("2.50", "10.00"),
    "gpt-4.1": _price("2.00", "8.00"),
    "gpt-4.1-mini": _price("0.40", "1.60"),
    "gpt-4.1-nano": _price("0.10", "0.40"),
    "gpt-5": _price("1.25", "10.00"),
    "gpt-5-mini": _price("0.25", "2.00"),
    "gpt-5-nano": _price("0.05", "0.40"),
    "o3-mini": _price("1.10", "4.40"),
    "o4-mini": _price("1.10", "4.40"),
    "gpt-4-turbo": _price("10.00", "30.00"),
    "gpt-3.5-turbo": _price("0.50", "1.50"),
    **{name: _price("0", "0") for name in _OFFLINE_MODELS},
}


def _key(model: str) -> str:
    """`openai:gpt-4o-mini` and `gpt-4o-mini` name the same price."""
    provider, colon, name = model.strip().partition(":")
    return name if colon and provider == "openai" else model.strip()


@dataclass(frozen=True)
class Pricing:
    """Model name -> price; `cost` is None for a model without a price."""

    prices: dict[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    currency: str = PRICE_CURRENCY

    def price_of(self, model: str) -> ModelPrice | None:
        return self.prices.get(model.strip()) or self.prices.get(_key(model))

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
        """Dollars for these tokens; a run that used no tokens costs 0 whatever its model."""
        if input_tokens == 0 and output_tokens == 0:
            return Decimal(0)
        price = self.price_of(model)
        if price is None:
            return None
        return (
            Decimal(input_tokens) * price.input_per_million
            + Decimal(output_tokens) * price.output_per_million
        ) / _MILLION


def default_pricing() -> Pricing:
    return Pricing()


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        return json.loads(text, parse_constant=_no_constant)
    return tomllib.loads(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a price")


def load_pricing(path: Path | None) -> Pricing:
    """The default prices with those of `path` (TOML, or JSON by its .json suffix) on top."""
    if path is None:
        return default_pricing()
    shown = printable(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_PRICING_FILE_BYTES:
            raise UserFacingError(
                f"pricing file {shown} is {size} bytes; at most {MAX_PRICING_FILE_BYTES} "
                "are read: keep only the models you price"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserFacingError(
            f"cannot read pricing file {shown}: {error.strerror or error}; check the path"
        ) from None
    except UnicodeDecodeError:
        raise UserFacingError(f"pricing file {shown} is not UTF-8 text") from None
    try:
        document = _parse(path, text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise UserFacingError(
            f"pricing file {shown} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
            f"{printable(str(error))}"
        ) from None
    return Pricing(prices={**DEFAULT_PRICES, **_models_of(document, shown)})


def _models_of(document: Any, shown: str) -> dict[str, ModelPrice]:
    example = 'models."openai:gpt-4o-mini" = {input_per_million = 0.15, output_per_million = 0.6}'
    if not isinstance(document, dict) or set(document) != {"models"}:
        raise UserFacingError(
            f"pricing file {shown} must hold one table, `models`, such as: {example}"
        )
    models = document["models"]
    if not isinstance(models, dict):
        raise UserFacingError(f"pricing file {shown}: `models` must be a table, such as: {example}")
    if len(models) > MAX_PRICED_MODELS:
        raise UserFacingError(
            f"pricing file {shown} prices {len(models)} models; at most {MAX_PRICED_MODELS}"
        )
    prices: dict[str, ModelPrice] = {}
    for name, entry in models.items():
        if not (0 < len(name) <= 200 and name.isprintable()):
            raise UserFacingError(
                f"pricing file {shown}: model name {printable(name)!r} must be 1 to 200 "
                "printable characters"
            )
        if isinstance(entry, dict) and any(
            isinstance(value, bool | str) or (isinstance(value, float) and not math.isfinite(value))
            for value in entry.values()
        ):
            raise UserFacingError(
                f"pricing file {shown}: models.{printable(name)} prices must be numbers"
            )
        try:
            prices[_key(name)] = ModelPrice.model_validate(entry)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in problem['loc']) or 'entry'}: {problem['msg']}"
                for problem in error.errors()
            )
            raise UserFacingError(
                f"pricing file {shown}: models.{printable(name)}: {printable(problems)}; "
                "give input_per_million and output_per_million, dollars from 0"
            ) from None
    return prices
