"""Classification levels of data items (密级 / 分级分类) and their place in the national grading.

GB/T 43697 grades data as *general* < *important* < *core*. Departments grade finer inside
"general", so govconnect uses five ordered levels:

============  ==========  ======================  =============================================
level         label       national grade          typical content
============  ==========  ======================  =============================================
public        公开         general (一般数据)        published names of services, office addresses
internal      内部         general (一般数据)        work data not for the public
sensitive     敏感         general (一般数据)        personal information, case details
important     重要         important (重要数据)      data whose leak harms public interest at scale
core          核心         core (核心数据)           data bearing on national security
============  ==========  ======================  =============================================

Levels compare by rank (``Level.PUBLIC < Level.SENSITIVE``), so "may this consumer see this field"
is ``field.level <= consumer.max_level``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Level"]


class Level(StrEnum):
    """An ordered classification level; the string value is what documents and configs carry."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"
    IMPORTANT = "important"
    CORE = "core"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def national_grade(self) -> str:
        """The GB/T 43697 grade: ``general``, ``important`` or ``core``."""
        return {Level.IMPORTANT: "important", Level.CORE: "core"}.get(self, "general")

    @property
    def label(self) -> str:
        return _LABEL[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank

    __hash__ = StrEnum.__hash__


_RANK = {level: i for i, level in enumerate(Level)}
_LABEL = {
    Level.PUBLIC: "公开",
    Level.INTERNAL: "内部",
    Level.SENSITIVE: "敏感",
    Level.IMPORTANT: "重要",
    Level.CORE: "核心",
}
