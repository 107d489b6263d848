{
  description = "genl-lab: VM-based integration tests for a generic netlink kernel module and its clients";

  inputs = {
    # NixOS 26.05 (stable), pinned to one exact revision here and in flake.lock. That one revision
    # fixes the kernels, their kbuild trees, libnl, qemu and virtme-ng. To move it, change the
    # revision, run `nix flake lock`, and update the README's "With Nix" section (the pins).
    nixpkgs.url = "github:NixOS/nixpkgs/5880666fd9eb563038431edb35c2d0aa595884e6";

    # rust-overlay rather than fenix: it builds the toolchain straight from rust-toolchain.toml
    # (`fromRustupToolchainFile`), so rustup users, CI and this flake share one pin, and its only
    # input is nixpkgs, which it takes from us.
    rust-overlay = {
      url = "github:oxalica/rust-overlay/fd2ebb9cc4323d0c5a1336138dab5c3c5a5d8bd9";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { self, nixpkgs, rust-overlay }:
    let
      # The lab boots x86_64 guests with qemu-system-x86_64.
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ rust-overlay.overlays.default ];
      };
      inherit (pkgs) lib;

      rustToolchain = pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;
      rustPlatform = pkgs.makeRustPlatform {
        cargo = rustToolchain;
        rustc = rustToolchain;
      };

      # One dev shell, one module package and one check per kernel line. The label is the
      # lab's kernel name, so results land in target/lab/<label>/.
      kernels = {
        linux_6_1 = {
          label = "nix-6.1";
          packages = pkgs.linuxPackages_6_1;
        };
        linux_6_6 = {
          label = "nix-6.6";
          packages = pkgs.linuxPackages_6_6;
        };
        linux_6_12 = {
          label = "nix-6.12";
          packages = pkgs.linuxPackages_6_12;
        };
        linux_latest = {
          label = "nix-latest";
          packages = pkgs.linuxPackages_latest;
        };
      };
      defaultKernel = "linux_6_12";

      kbuildDir = kp: "${kp.kernel.dev}/lib/modules/${kp.kernel.modDirVersion}/build";

      # What the lab runner reads (the `env` kernel). The image and the modules come from the
      # kernel's `out`, the kbuild tree from its `dev`: one derivation, so vermagic matches.
      # In-tree modules are xz-compressed (*.ko.xz), and 9p/virtiofs are among them.
      kernelEnv = k: {
        GENL_LAB_KERNEL_NAME = k.label;
        GENL_LAB_KERNEL_IMAGE = "${k.packages.kernel}/${pkgs.stdenv.hostPlatform.linux-kernel.target}";
        GENL_LAB_KERNEL_MODULES = "${k.packages.kernel}/lib/modules/${k.packages.kernel.modDirVersion}";
        GENL_LAB_KERNEL_BUILD = kbuildDir k.packages;
      };

      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./.cargo
          ./kmod
          ./tests
          ./userland
          ./vm
        ];
      };

      # Static, and without applet symlinks that would shadow coreutils in the shell.
      busyboxStatic = pkgs.busybox.override {
        enableStatic = true;
        enableAppletSymlinks = false;
      };

      # The module, built against one kernel line's kbuild tree.
      module =
        kp:
        kp.stdenv.mkDerivation {
          pname = "gnl-foobar-xmpl";
          version = "0.1.0-${kp.kernel.version}";
          inherit src;
          nativeBuildInputs = kp.kernel.moduleBuildDependencies;
          buildPhase = ''
            runHook preBuild
            make -C ${kbuildDir kp} M="$PWD/kmod" ${lib.escapeShellArgs kp.kernelModuleMakeFlags} modules
            runHook postBuild
          '';
          installPhase = ''
            runHook preInstall
            install -Dm444 -t "$out/lib/modules/${kp.kernel.modDirVersion}/extra" kmod/*.ko
            runHook postInstall
          '';
          meta.platforms = [ system ];
        };

      # The C clients; userland/Makefile already compiles with -Wall -Wextra -Werror.
      clientsC = pkgs.stdenv.mkDerivation {
        pname = "genl-lab-c-clients";
        version = "0.1.0";
        inherit src;
        nativeBuildInputs = [ pkgs.pkg-config ];
        buildInputs = [ pkgs.libnl ];
        buildPhase = ''
          runHook preBuild
          make -C userland OUT="$PWD/out/bin"
          runHook postBuild
        '';
        installPhase = ''
          runHook preInstall
          install -Dm555 -t "$out/bin" out/bin/*
          runHook postInstall
        '';
      };

      # The Rust clients. The integration tests need the VM, so `cargo test` does not run here.
      clientsRust = rustPlatform.buildRustPackage {
        pname = "genl-lab-rust-clients";
        version = "0.1.0";
        inherit src;
        cargoLock.lockFile = ./Cargo.lock;
        cargoBuildFlags = [
          "--package"
          "gnl-rust"
          "--package"
          "nl-rust"
        ];
        doCheck = false;
      };

      # A cargo command over the whole workspace with vendored crates; succeeds or fails the check.
      cargoCheck =
        name: command:
        rustPlatform.buildRustPackage {
          pname = "genl-lab-${name}";
          version = "0.1.0";
          inherit src;
          cargoLock.lockFile = ./Cargo.lock;
          buildPhase = ''
            runHook preBuild
            ${command}
            runHook postBuild
          '';
          installPhase = "touch $out";
          doCheck = false;
        };

      # kbuild's tools (perl, libelf, zstd, ...), minus deterministic-uname, which would make
      # `uname -r` report the kernel under test inside the shell.
      kbuildTools =
        kp:
        lib.filter (d: lib.getName d != "deterministic-uname") kp.kernel.moduleBuildDependencies;

      devShell =
        k:
        let
          # The kernel's own stdenv, so the shell's gcc is the one the kernel was built with.
          mkShell = pkgs.mkShell.override { inherit (k.packages) stdenv; };
        in
        mkShell (
          kernelEnv k
          // {
            packages = [
              rustToolchain
              pkgs.cargo-insta
              pkgs.just
              pkgs.qemu
              # nixpkgs' own virtme-ng at the revision pinned above, not vm/requirements.txt's pin
              # (Nix does not install from PyPI): `cargo lab kernels` prints the one in use.
              pkgs.virtme-ng
              busyboxStatic
              pkgs.kmod
              pkgs.pkg-config
              pkgs.libnl
              pkgs.gnumake
              pkgs.pahole
              pkgs.strace
              pkgs.tcpdump
              pkgs.python3
              pkgs.shellcheck
              pkgs.actionlint
              pkgs.sparse
              pkgs.jq
            ]
            ++ kbuildTools k.packages;

            # The lab never installs packages inside this shell: everything is above.
            GENL_LAB_NO_INSTALL = "1";
          }
        );
    in
    {
      packages.${system} =
        lib.mapAttrs' (name: k: lib.nameValuePair "module-${name}" (module k.packages)) kernels
        // {
          clients-c = clientsC;
          clients-rust = clientsRust;
          default = self.packages.${system}.clients-rust;
        };

      devShells.${system} = lib.mapAttrs (_: devShell) kernels // {
        default = devShell kernels.${defaultKernel};
      };

      checks.${system} = {
        inherit (self.packages.${system})
          module-linux_6_1
          module-linux_6_6
          module-linux_6_12
          module-linux_latest
          clients-c
          ;
        clippy = cargoCheck "clippy" "cargo clippy --workspace --all-targets -- -D warnings";
        rustfmt = cargoCheck "rustfmt" "cargo fmt --all --check";
      };

      formatter.${system} = pkgs.nixfmt;
    };
}
