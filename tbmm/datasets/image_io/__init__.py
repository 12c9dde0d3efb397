"""Reading chest X-rays (PNG, JPEG, DICOM) into 8-bit grayscale arrays.

Every reader returns ``uint8`` gray pixels, replicated to 3 channels by default because the
detector's backbone expects 3 channels. X-rays are gray, so colour, RGBA and palette files are
converted to gray (luma weights; the alpha channel is dropped) before being replicated.

Mapping to 8 bits:

* 8-bit images are kept as stored.
* Images with more than 8 bits (16-bit PNG, 12-bit data stored in 16 bits, float images) are
  stretched linearly from their **actual value range** ``[min, max]`` to ``[0, 255]`` (rounded to
  nearest). A 12-bit image stored in a 16-bit PNG therefore uses the full 8-bit range instead of
  coming out almost black (``4095 / 65535 * 255 = 16``), and a true 16-bit image is handled the same
  way. The mapping is monotonic, so relative contrast is preserved; a constant image maps to zeros.
* DICOM follows the display pipeline of the standard: the modality LUT (Rescale Slope/Intercept or
  a Modality LUT Sequence), then the VOI LUT (VOI LUT Sequence, else the first Window
  Center/Width), whose output range is mapped linearly to ``[0, 255]``, so the window chosen for
  display is honoured (values outside the window saturate). Without a VOI LUT or window the actual
  value range is stretched as above; so it is when they are malformed (a width below 1, a center
  without a width, a LUT whose data do not fit its descriptor or whose output is constant), and
  then a :class:`DicomWindowWarning` names the file (once per file and process;
  :func:`recording_window_fallbacks` collects them instead, e.g. for a count in a summary).
  MONOCHROME1 images (and a Presentation LUT Shape of INVERSE) are inverted afterwards, so lungs
  are dark as in MONOCHROME2. Multi-frame files yield their first frame.

Files are recognised as DICOM by the ``DICM`` marker after the 128-byte preamble or by a ``.dcm`` /
``.dicom`` suffix; everything else is decoded by OpenCV. pydicom is only imported for DICOM input.

Unreadable input (missing, empty, truncated, not an image) raises :class:`ImageReadError`, whose
message is one line naming the file and the reason. :func:`inspect_image` checks that a file is a
complete image and says what it is, from its header and last bytes only.

Modules: :mod:`.formats` (suffixes, signatures, headers), :mod:`.pixels` (to 8-bit gray),
:mod:`.dicom`, :mod:`.reading` (the readers) and :mod:`.inspection`.
"""
from tbmm.datasets.image_io.dicom import DicomWindowWarning, recording_window_fallbacks
from tbmm.datasets.image_io.formats import DICOM_SUFFIXES, IMAGE_SUFFIXES, ImageReadError, XRayInfo
from tbmm.datasets.image_io.inspection import ImageCheck, inspect_image
from tbmm.datasets.image_io.pixels import to_uint8
from tbmm.datasets.image_io.reading import decode_xray, read_xray, read_xray_info

__all__ = ['DICOM_SUFFIXES', 'IMAGE_SUFFIXES', 'DicomWindowWarning', 'ImageCheck',
           'ImageReadError', 'XRayInfo', 'decode_xray', 'inspect_image', 'read_xray',
           'read_xray_info', 'recording_window_fallbacks', 'to_uint8']
