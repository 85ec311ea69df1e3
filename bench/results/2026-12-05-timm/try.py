import pathlib
import sys, warnings, torch, timm
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
import export_pytorch as ep
warnings.simplefilter("ignore")
size = int(sys.argv[1]) if len(sys.argv) > 1 else 32
names = sys.argv[2:] or ["convnext_atto", "convnext_femto", "resnet18", "resnet26d", "efficientnet_b0", "mobilenetv3_small_050", "mobilenetv3_large_100", "regnetx_002", "regnety_002", "ghostnet_100", "mixnet_s", "densenet121", "dla34", "rexnet_100", "lcnet_050", "mnasnet_050", "tinynet_e", "resnext26ts", "seresnext26d_32x4d", "dpn48b", "hrnet_w18_small", "vgg11", "inception_v3", "xception41", "convnextv2_atto", "poolformer_s12", "edgenext_xx_small", "repvgg_a0", "fbnetc_100", "semnasnet_050", "spnasnet_100", "gernet_s", "skresnet18", "res2net50_14w_8s", "cspresnet50", "darknet17", "levit_128s", "vit_tiny_patch16_224", "mobilevit_xxs", "efficientvit_b0"]
for name in names:
    try:
        m = timm.create_model(name, num_classes=10, pretrained=False).eval()
        ep.architecture(m, (3, size, size))
        print(f"{name}: exported")
    except ep.Unsupported as e:
        print(f"{name}: refused: {str(e)[:230]}")
    except Exception as e:
        print(f"{name}: ERROR {type(e).__name__}: {str(e)[:230]}")
