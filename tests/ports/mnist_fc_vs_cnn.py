"""Fully connected network vs convolutional network on MNIST, written as PyTorch code.

Two models with about the same number of parameters (~6,400): a two-hidden-layer
perceptron and a small CNN. Both train on MNIST, then both train again on the same
images with their pixels scrambled by one fixed permutation. The perceptron does not
care where a pixel is, so it scores about the same; the CNN's convolutions and pooling
assume that neighbouring pixels belong together, and lose much of their edge once that
is no longer true.

    python mnist_fc_vs_cnn.py [--data ./data] [--epochs 1] [--train-size N] [--test-size N]

The data folder is torchvision's: ``data/MNIST/raw/`` with the four IDX files.
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms


class FC2Layer(nn.Module):
    def __init__(self, input_size, n_hidden, output_size):
        super().__init__()
        self.input_size = input_size
        self.network = nn.Sequential(
            nn.Linear(input_size, n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, output_size),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        x = x.view(-1, self.input_size)
        return self.network(x)


class CNN(nn.Module):
    def __init__(self, n_feature, output_size):
        super().__init__()
        self.n_feature = n_feature
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=n_feature, kernel_size=5)
        self.conv2 = nn.Conv2d(n_feature, n_feature, kernel_size=5)
        self.fc1 = nn.Linear(n_feature * 4 * 4, 50)
        self.fc2 = nn.Linear(50, output_size)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), kernel_size=2)  # 24x24 -> 12x12
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=2)  # 8x8 -> 4x4
        x = x.view(-1, self.n_feature * 4 * 4)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def get_n_params(model):
    return sum(p.numel() for p in model.parameters())


def permute_pixels(x, perm):
    return x.view(-1, 28 * 28)[:, perm].view(-1, 1, 28, 28)


def train(model, loader, optimizer, epoch, perm=None):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        if perm is not None:
            data = permute_pixels(data, perm)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 100 == 0:
            print(f'Train epoch {epoch} [{batch_idx * len(data)}/{len(loader.dataset)}]\tloss: {loss.item():.4f}')


def test(model, loader, perm=None):
    model.eval()
    test_loss = 0.0
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            if perm is not None:
                data = permute_pixels(data, perm)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    n = len(loader.dataset)
    accuracy = 100.0 * correct / n
    print(f'Test set: average loss {test_loss / n:.4f}, accuracy {correct}/{n} ({accuracy:.1f}%)')
    return accuracy


def run(name, model, train_loader, test_loader, epochs, perm=None):
    print(f'{name}: {get_n_params(model)} parameters')
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    for epoch in range(1, epochs + 1):
        train(model, train_loader, optimizer, epoch, perm)
    return test(model, test_loader, perm)


def main():
    parser = argparse.ArgumentParser(description='MNIST: fully connected vs CNN, with and without a pixel permutation')
    parser.add_argument('--data', default='./data')
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--train-size', type=int, default=None, help='use the first N training images')
    parser.add_argument('--test-size', type=int, default=None, help='use the first N test images')
    args = parser.parse_args()

    torch.manual_seed(1)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST(args.data, train=True, download=True, transform=transform)
    test_set = datasets.MNIST(args.data, train=False, download=True, transform=transform)
    if args.train_size is not None:
        train_set = torch.utils.data.Subset(train_set, range(args.train_size))
    if args.test_size is not None:
        test_set = torch.utils.data.Subset(test_set, range(args.test_size))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, shuffle=False)

    n_hidden = 8   # FC2Layer(784, 8, 10) and CNN(6, 10) both have about 6,400 parameters
    n_features = 6
    perm = torch.randperm(784)
    results = {}
    for pixels, p in (('original', None), ('permuted', perm)):
        results['fully connected', pixels] = run(f'fully connected, {pixels} pixels', FC2Layer(784, n_hidden, 10),
                                                 train_loader, test_loader, args.epochs, p)
        results['convolutional', pixels] = run(f'convolutional, {pixels} pixels', CNN(n_features, 10),
                                               train_loader, test_loader, args.epochs, p)

    print('Test accuracy (%):')
    for (model, pixels), accuracy in results.items():
        print(f'  {model:16s} {pixels:9s} {accuracy:5.1f}')


if __name__ == '__main__':
    main()
