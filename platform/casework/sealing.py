"""Case content sealed under the organisation's data key.

Every sealed value is bound to where it lives: the organisation, a purpose (which column) and
the row id are the AES-GCM associated data, so a value copied to another row, column or
organisation does not open. Stored as base64 text (portable between SQLite and PostgreSQL).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from klankbord import keys
from klankbord.key_providers import open_sealed, seal
from klankbord.tenancy import TenantContext


@dataclass(frozen=True)
class Sealer:
    organisation_id: UUID
    key: bytes = field(repr=False)

    def _context(self, purpose: str, row_id: UUID) -> str:
        return f"{self.organisation_id}:{purpose}:{row_id}"

    def seal(self, purpose: str, row_id: UUID, text: str) -> str:
        sealed = seal(self.key, text.encode(), context=self._context(purpose, row_id))
        return base64.b64encode(sealed).decode()

    def open(self, purpose: str, row_id: UUID, stored: str) -> str:
        sealed = base64.b64decode(stored)
        return open_sealed(self.key, sealed, context=self._context(purpose, row_id)).decode()

    def seal_json(self, purpose: str, row_id: UUID, value: Any) -> str:
        return self.seal(purpose, row_id, json.dumps(value, ensure_ascii=False))

    def open_json(self, purpose: str, row_id: UUID, stored: str) -> Any:
        return json.loads(self.open(purpose, row_id, stored))


async def sealer(ctx: TenantContext, organisation_id: UUID) -> Sealer:
    """The organisation's sealer (inside the caller's tenant transaction)."""
    return Sealer(organisation_id, await keys.data_key(ctx, organisation_id=organisation_id))
