from tbmm.models.data_preprocessors.gray_to_rgb import GrayToRGBDetDataPreprocessor

__all__ = ['GrayToRGBDetDataPreprocessor']
