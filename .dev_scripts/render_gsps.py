#!/usr/bin/env python
"""Render a GSPS on its image to a PNG (tbmm.dicom.render: the presentation state's window and
presentation LUT, then its boxes and labels), e.g. for the README's picture.

    python .dev_scripts/render_gsps.py IMAGE.dcm RESULT.gsps.dcm OUT.png [--width 720]
"""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image')
    parser.add_argument('gsps')
    parser.add_argument('out')
    parser.add_argument('--width', type=int, default=720, help='width of the PNG (area-resized)')
    args = parser.parse_args(argv)
    import cv2
    import pydicom

    from tbmm.dicom.render import render_presentation_state

    image = pydicom.dcmread(args.image)
    # Lines and labels about 3 px and 16 px high in the PNG, whatever the image's size.
    shrink = image.Columns / args.width
    rgb = render_presentation_state(image, pydicom.dcmread(args.gsps),
                                    line_width=max(2, round(3 * shrink)), font_scale=0.6 * shrink)
    height = round(rgb.shape[0] * args.width / rgb.shape[1])
    small = cv2.resize(rgb, (args.width, height), interpolation=cv2.INTER_AREA)
    cv2.imwrite(args.out, cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    print(f'{args.out}: {args.width} x {height}')
    return 0


if __name__ == '__main__':
    from tbmm.utils import run_cli
    sys.exit(run_cli(main))
