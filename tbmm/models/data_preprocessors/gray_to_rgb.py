"""Data preprocessor for 1-channel X-ray batches feeding a 3-channel (ImageNet) backbone."""
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS


@MODELS.register_module()
class GrayToRGBDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` that accepts 1-channel images and repeats them to 3 channels.

    With ``LoadXRayImageFromFile(channels=1)`` the workers decode, resize, flip and collate a third
    of the bytes, and pinning and the host-to-device copy move a third as well; the repeat happens
    here, after the batch has been moved to the model's device. 3-channel inputs pass
    through unchanged, so the result equals the 3-channel path for a gray image. Same arguments as
    ``DetDataPreprocessor`` (``mean``/``std`` per RGB channel, ``bgr_to_rgb``, ...).
    """

    def forward(self, data, training=False):
        # Moved first, so the copy carries one channel; the parent's own cast is then a no-op.
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            data['inputs'] = [self._to_three_channels(image) for image in inputs]
        else:
            data['inputs'] = self._to_three_channels(inputs)
        return super().forward(data, training)

    @staticmethod
    def _to_three_channels(images):
        # (1, H, W) per image as collated by pseudo_collate, or (N, 1, H, W) when stacked.
        channel_dim = images.dim() - 3
        if images.shape[channel_dim] != 1:
            return images
        return images.expand(*images.shape[:channel_dim], 3, *images.shape[channel_dim + 1:])
