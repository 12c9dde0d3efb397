import pytest

from tbmm.errors import MissingExtraError, UserInputError, error_line, shorten, user_error_names
from tbmm.utils import run_cli


def test_shorten_keeps_short_text_and_cuts_long_text_to_the_limit():
    assert shorten('abc', limit=5) == 'abc'
    assert shorten('abcdefgh', limit=5) == 'ab...'
    assert len(shorten('x' * 500)) == 200


def test_error_line_is_the_first_line_or_the_type_name():
    assert error_line(ValueError('bad header\nstack detail')) == 'bad header'
    assert error_line(KeyError()) == 'KeyError'


def test_a_subclass_defined_anywhere_is_a_user_error_by_isinstance_and_by_name(capsys):
    class OddSettingError(UserInputError):
        pass

    assert 'OddSettingError' in user_error_names()

    def main(argv):
        raise OddSettingError('settings.json: record 3: no such class')

    assert run_cli(main) == 2
    assert capsys.readouterr().err == 'error: settings.json: record 3: no such class\n'


def test_a_missing_extra_is_still_an_import_error():
    with pytest.raises(ImportError):
        raise MissingExtraError('pip install pydicom')


def test_a_bug_is_not_swallowed():
    def main(argv):
        raise ZeroDivisionError('a bug')

    with pytest.raises(ZeroDivisionError):
        run_cli(main)
