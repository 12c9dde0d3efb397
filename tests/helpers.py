"""Helpers shared by several test modules."""
import numpy as np


def write_dicom(path, pixels, photometric='MONOCHROME2', bits_stored=12, preamble=True, **elements):
    """A minimal DX DICOM file of uint16 ``pixels`` (H x W or frames x H x W) plus ``elements``."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'  # Digital X-Ray Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'DX'
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(pixels, dtype='<u2').tobytes()
    ds.save_as(path, enforce_file_format=preamble)
    return path


def save_untrained_phantom_checkpoint(config, path):
    """Save an untrained detector of ``config`` (seed 0) whose classifier bias is 0, so it returns
    boxes scoring about 0.5 (the default prior bias gives ~0.01, below the test score threshold),
    with the config's class names as MMEngine stores them; returns ``str(path)``."""
    import torch
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from tbmm.apis.runner import load_config

    cfg = load_config(str(config))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.nn.init.zeros_(model.bbox_head.retina_cls.bias)
    classes = tuple(cfg.test_dataloader.dataset.metainfo.classes)
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': classes}}},
               path)
    return str(path)
