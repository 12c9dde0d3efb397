"""Class lists from the command line: presets, comma lists, and misspelt presets refused."""
import pytest

from tbmm.classes import CHESTXDET10_CLASSES, DEFAULT_CLASSES, parse_class_list


def test_presets_and_lists():
    assert parse_class_list(None) == DEFAULT_CLASSES
    assert parse_class_list('ChestXDet10') == CHESTXDET10_CLASSES
    assert parse_class_list('Nodule, Mass') == ('Nodule', 'Mass')
    assert parse_class_list('Nodule') == ('Nodule',)


@pytest.mark.parametrize('text', ['chestxdet11', 'chestxdet', 'ChestXDet-10'])
def test_misspelt_preset_is_refused_not_taken_as_a_class(text):
    with pytest.raises(ValueError, match=f'unknown class preset {text!r}: the presets are '
                                         'chestxdet9, chestxdet10, chestxdet13'):
        parse_class_list(text)
    assert parse_class_list(text + ',') == (text,)  # the escape for such a class name


@pytest.mark.parametrize('text', ['', ' , ', 'Nodule,Nodule'])
def test_empty_or_duplicate_lists_are_refused(text):
    with pytest.raises(ValueError):
        parse_class_list(text)


def test_nih8_preset():
    from tbmm.classes import NIH8_CLASSES
    assert parse_class_list('nih8') == parse_class_list('NIH8') == NIH8_CLASSES
    assert NIH8_CLASSES == ('Atelectasis', 'Cardiomegaly', 'Effusion', 'Infiltrate', 'Mass',
                            'Nodule', 'Pneumonia', 'Pneumothorax')


@pytest.mark.parametrize('text', ['nih', 'nih14', 'NIH-8'])
def test_misspelt_nih_preset_is_refused(text):
    with pytest.raises(ValueError, match=f'unknown class preset {text!r}: the presets are '
                                         'chestxdet9, chestxdet10, chestxdet13, nih8'):
        parse_class_list(text)
    assert parse_class_list(text + ',') == (text,)


def test_covering_preset_prefers_chestxdet_for_shared_classes():
    from tbmm.classes import covering_preset
    # Classes both families have: the ChestX-Det preset the configs train, as before nih8 existed.
    assert covering_preset(['Nodule', 'Mass', 'Effusion']) == 'chestxdet9'
    assert covering_preset(['Nodule', 'Pneumothorax']) == 'chestxdet10'
    assert covering_preset(['Cardiomegaly']) == 'chestxdet13'
    # NIH's own classes need nih8.
    assert covering_preset(['Nodule', 'Infiltrate', 'Pneumonia']) == 'nih8'
    assert covering_preset(['Infiltrate', 'Fracture']) is None
