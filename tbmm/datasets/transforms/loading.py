"""Pipeline transform that loads chest X-rays (PNG/JPEG of any bit depth, DICOM) as 8-bit gray."""
from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine import fileio

from tbmm.datasets.image_io import ImageReadError, decode_xray, read_xray


@TRANSFORMS.register_module()
class LoadXRayImageFromFile(LoadImageFromFile):
    """Drop-in replacement for ``LoadImageFromFile`` that reads X-rays with :func:`read_xray`.

    mmcv's loader keeps only the high byte of a 16-bit PNG (a 12-bit image comes out nearly black)
    and cannot read DICOM; this one maps high-bit-depth and DICOM pixels to 8 bits as
    :mod:`tbmm.datasets.image_io` documents.

    Required keys: ``img_path``. Modified keys: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        channels: 3 for ``H x W x 3`` (identical channels, what ImageNet backbones expect) or 1
            for ``H x W``, which skips the channel copy but needs a 1-channel model and data
            preprocessor. ``None`` (default) derives it from ``color_type``: 1 for
            ``'grayscale'``, else 3.
        **kwargs: ``LoadImageFromFile``'s arguments (``to_float32``, ``color_type``,
            ``ignore_empty``, ``backend_args``, ...). ``imdecode_backend`` is ignored: decoding is
            always OpenCV/pydicom. Files are read from the local disk unless ``backend_args`` or
            ``file_client_args`` is set; then their bytes are fetched through MMEngine's backends.

    Unreadable images raise :class:`~tbmm.datasets.image_io.ImageReadError` naming the file, or
    make the transform return ``None`` when ``ignore_empty=True`` (the dataset then picks another
    sample).
    """

    def __init__(self, channels=None, **kwargs):
        super().__init__(**kwargs)
        if channels is None:
            channels = 1 if self.color_type == 'grayscale' else 3
        if channels not in (1, 3):
            raise ValueError(f'channels must be 1 or 3, got {channels!r}')
        self.channels = channels

    def transform(self, results):
        path = results['img_path']
        try:
            img = self._read(path)
        except ImageReadError:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _read(self, path):
        if self.file_client_args is None and self.backend_args is None:
            # Local file: let OpenCV read it directly, without a copy of its bytes in Python.
            return read_xray(path, channels=self.channels)
        try:
            if self.file_client_args is not None:
                data = fileio.FileClient.infer_client(self.file_client_args, path).get(path)
            else:
                data = fileio.get(path, backend_args=self.backend_args)
        except OSError as e:  # missing or unreachable: report it like a local unreadable file
            raise ImageReadError(path, f'cannot fetch ({e.strerror or e})') from e
        return decode_xray(data, channels=self.channels, name=str(path))

    def __repr__(self):
        return f'{super().__repr__()[:-1]}, channels={self.channels})'
