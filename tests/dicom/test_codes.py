"""Every standard code tbmm's DICOM results use is in pydicom's code dictionary (generated from
DICOM PS3.16) with that value and meaning; the others are valid codes of the private 99TBMM
scheme."""
import re

import pytest

from tbmm.classes import CLASS_PRESETS
from tbmm.dicom.codes import (
    FINDING_CODES,
    PRIVATE_SCHEME,
    PROCEDURE_CODE,
    SCORE_CODE,
    SCORE_UNIT,
    finding_code,
    private_code_value,
)

pytest.importorskip('pydicom')
from pydicom.sr._concepts_dict import concepts  # noqa: E402

STANDARD = [entry for entry in FINDING_CODES.values() if entry[1] != PRIVATE_SCHEME]
PRIVATE = [entry for entry in FINDING_CODES.values() if entry[1] == PRIVATE_SCHEME]


def dictionary_meanings(value, scheme):
    """The meanings pydicom's dictionary gives code ``value`` of ``scheme``, without SNOMED CT's
    semantic tag ("Chest imaging (procedure)" is the fully specified name of "Chest imaging")."""
    return {re.sub(r' \([a-z ]+\)$', '', meaning) for by_code in concepts[scheme].values()
            for code, (meaning, _) in by_code.items() if code == value}


@pytest.mark.parametrize('entry', STANDARD + [SCORE_CODE, SCORE_UNIT, PROCEDURE_CODE],
                         ids=lambda e: f'{e[1]}-{e[0]}')
def test_standard_codes_are_in_pydicoms_dictionary(entry):
    value, scheme, meaning = entry
    meanings = {m.lower() for m in dictionary_meanings(value, scheme)}
    assert meanings, f'{scheme} {value} is not in pydicom.sr.codedict'
    assert meaning.lower() in meanings, meanings


def test_every_preset_class_has_a_finding_code():
    for classes in CLASS_PRESETS.values():
        for name in classes:
            assert name in FINDING_CODES, name


def test_private_codes_are_valid_and_distinct():
    values = [value for value, _, _ in PRIVATE]
    assert len(set(values)) == len(values)
    # Code Value is an SH (16 characters); a standard scheme never uses the 99 prefix.
    assert all(0 < len(v) <= 16 for v in values)
    assert PRIVATE_SCHEME.startswith('99')


def test_unknown_class_gets_a_stable_private_code():
    value, scheme, meaning = finding_code('Tuberculoma')
    assert (scheme, meaning) == (PRIVATE_SCHEME, 'Tuberculoma')
    assert value == private_code_value('Tuberculoma') and len(value) <= 16
    assert value != finding_code('Granuloma')[0]
    assert len(finding_code('x' * 100)[2]) == 64  # Code Meaning is an LO
